//! A string interner that builds a profile's string table.

use std::collections::HashMap;

/// Builds a string table with `""` at index 0, deduplicating in O(1).
#[derive(Debug)]
pub struct Interner {
    strings: Vec<String>,
    index: HashMap<String, u32>,
}

impl Default for Interner {
    fn default() -> Self {
        let mut index = HashMap::new();
        index.insert(String::new(), 0);
        Interner {
            strings: vec![String::new()],
            index,
        }
    }
}

impl Interner {
    /// The index of `s`, adding it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }

    /// The finished table.
    pub fn into_strings(self) -> Vec<String> {
        self.strings
    }
}
