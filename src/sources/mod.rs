//! Sources: folders, feeds and URLs polled for documents. (Being built for issue 4.)
