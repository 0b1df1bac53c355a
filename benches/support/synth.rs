//! Synthetic text for the benchmarks' generated documents (shared by the bench files).
#![allow(dead_code)]

/// Deterministic SplitMix64 over a word list: no `rand` dependency, the same text on
/// every run.
pub struct Synth {
    state: u64,
    words: Vec<&'static str>,
}

impl Synth {
    /// `words`: space-separated words to string together.
    pub fn new(seed: u64, words: &'static str) -> Self {
        Synth {
            state: seed,
            words: words.split_whitespace().collect(),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[self.below(pool.len())]
    }

    /// About `chars` characters of words, the odd comma and figure; no closing stop.
    pub fn clause(&mut self, chars: usize) -> String {
        let mut out = String::new();
        let mut count = 0;
        while count < chars {
            if count > 0 && self.below(6) == 0 {
                out.push('，');
                count += 1;
            }
            let piece = if self.below(8) == 0 {
                format!("{}.{}%", self.below(20), self.below(10))
            } else {
                let index = self.below(self.words.len());
                self.words[index].to_string()
            };
            count += piece.chars().count();
            out.push_str(&piece);
        }
        out
    }

    pub fn sentence(&mut self, chars: usize) -> String {
        let mut s = self.clause(chars);
        s.push('。');
        s
    }

    pub fn paragraph(&mut self, sentences: usize) -> String {
        (0..sentences).map(|_| self.sentence(24)).collect()
    }
}
