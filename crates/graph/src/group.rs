//! Grouping rows by a borrowed key.

use std::collections::HashMap;

/// Maps keys to dense indices (0, 1, … in order of first sight), calling `on_new` for each new
/// key; remembers the last key so that sorted input (runs of one key) skips the hash.
pub(crate) struct Grouper<K> {
    index: HashMap<K, usize>,
    last: Option<(K, usize)>,
}

impl<K: std::hash::Hash + Eq + Copy> Grouper<K> {
    pub(crate) fn new() -> Self {
        Self {
            index: HashMap::new(),
            last: None,
        }
    }

    #[inline]
    pub(crate) fn get_or_insert(&mut self, key: K, mut on_new: impl FnMut(K)) -> usize {
        if let Some((k, i)) = self.last
            && k == key
        {
            return i;
        }
        let next = self.index.len();
        let i = *self.index.entry(key).or_insert_with(|| {
            on_new(key);
            next
        });
        self.last = Some((key, i));
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_with_and_without_runs() {
        let mut g = Grouper::new();
        let mut made = Vec::new();
        let ids: Vec<usize> = ["a", "a", "b", "a", "c", "b"]
            .into_iter()
            .map(|key| g.get_or_insert(key, |k| made.push(k)))
            .collect();
        assert_eq!(made, ["a", "b", "c"]);
        assert_eq!(ids, [0, 0, 1, 0, 2, 1]);
    }
}
