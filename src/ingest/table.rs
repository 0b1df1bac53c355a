//! Markdown tables (`| 指标 | 数值 |`, `|---|---|`) read into rows and cells.
//!
//! A run of lines that start with `|` is one table. When its second line is a delimiter
//! row (`|---|:--:|`), its first line is the header, as in GitHub's markdown; without one
//! every line is a body row. Either way no `|` line is shown raw.

use crate::ingest::text::strip_markdown_inline;
use crate::model::Table;

/// The cells of a table line, or `None` when the line is not one. Cells are split at
/// each `|` not escaped as `\|`; the outer pipes are optional at the end.
pub fn table_cells(line: &str) -> Option<Vec<String>> {
    let inner = line.trim().strip_prefix('|')?;
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    let mut closed = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
                closed = false;
            }
            '|' => {
                cells.push(std::mem::take(&mut cell));
                closed = true;
            }
            c => {
                cell.push(c);
                closed = closed && c.is_whitespace();
            }
        }
    }
    if !closed || !cell.trim().is_empty() {
        cells.push(cell);
    }
    Some(
        cells
            .iter()
            .map(|c| strip_markdown_inline(c.trim()))
            .collect(),
    )
}

/// Whether cells are a delimiter row: each `---`, `:--`, `--:` or `:-:`.
fn is_delimiter_row(cells: &[String]) -> bool {
    !cells.is_empty()
        && cells.iter().all(|c| {
            let dashes = c.trim_matches(':');
            !dashes.is_empty() && dashes.bytes().all(|b| b == b'-')
        })
}

/// Collects the lines of one table as they come, and makes the [`Table`] when the run
/// ends.
#[derive(Debug, Default)]
pub struct TableBuilder {
    lines: Vec<Vec<String>>,
}

impl TableBuilder {
    /// Takes the line if it is a table line; returns whether it did.
    pub fn push_line(&mut self, line: &str) -> bool {
        match table_cells(line) {
            Some(cells) => {
                self.lines.push(cells);
                true
            }
            None => false,
        }
    }

    /// The table read so far, if any; the builder is empty again after.
    pub fn finish(&mut self) -> Option<Table> {
        let mut lines = std::mem::take(&mut self.lines).into_iter();
        let first = lines.next()?;
        let mut rest: Vec<Vec<String>> = lines.collect();
        let header = if rest.first().is_some_and(|r| is_delimiter_row(r)) {
            rest.remove(0);
            first
        } else {
            rest.insert(0, first);
            Vec::new()
        };
        // A stray delimiter row further down (two tables glued together) is no data.
        rest.retain(|r| !is_delimiter_row(r) && r.iter().any(|c| !c.is_empty()));
        let header = if header.iter().any(|c| !c.is_empty()) {
            header
        } else {
            Vec::new()
        };
        // Lines of bare pipes hold nothing to show.
        (!header.is_empty() || !rest.is_empty()).then_some(Table { header, rows: rest })
    }
}

/// How the plain-text renderer writes a table row: cells joined by ` · `, empty ones left
/// out.
pub fn row_text(cells: &[String]) -> String {
    cells
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        let mut builder = TableBuilder::default();
        for line in text.lines() {
            assert!(builder.push_line(line), "{line}");
        }
        builder.finish().unwrap()
    }

    #[test]
    fn header_and_rows_with_alignment_and_escapes() {
        let t =
            table("| 指标 | 数值 | 变化 |\n|:---|---:|:-:|\n| **CPI** | 0.2% | ↑ |\n| A\\|B | 1 |");
        assert_eq!(t.header, ["指标", "数值", "变化"]);
        assert_eq!(t.rows, vec![vec!["CPI", "0.2%", "↑"], vec!["A|B", "1"]]);
        assert_eq!(row_text(&t.rows[0]), "CPI · 0.2% · ↑");
    }

    #[test]
    fn a_table_without_delimiter_row_is_all_rows() {
        let t = table("| 黄金 | 5000 |\n| 白银 | 80 |");
        assert!(t.header.is_empty());
        assert_eq!(t.rows.len(), 2);
        assert_eq!(table_cells("不是表格 | x"), None);
        assert_eq!(table_cells("|a|b").unwrap(), ["a", "b"]);
    }
}
