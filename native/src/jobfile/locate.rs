//! Finding the line of a key in a TOML job file, for error messages.
//!
//! This is a line scanner, not a parser: it follows `[table]` and `[[array]]` headers
//! and `key = value` lines, which is how job files are written. Keys inside inline
//! tables or multi-line values are not found; errors about them carry no line.

/// Every table header and key of a TOML text, as dotted paths with their line (from 1).
///
/// Arrays of tables are numbered: the second `[[batches]]` is `batches[1]`, and its
/// `count` key is `batches[1].count`.
#[derive(Debug, Clone, Default)]
pub struct KeyLines {
    entries: Vec<(String, usize)>,
}

fn unquote(key: &str) -> String {
    key.split('.')
        .map(|part| part.trim().trim_matches('"').trim_matches('\''))
        .collect::<Vec<_>>()
        .join(".")
}

impl KeyLines {
    /// Scans `text`.
    pub fn scan(text: &str) -> Self {
        let mut entries = Vec::new();
        let mut table = String::new();
        let mut arrays: Vec<(String, usize)> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            let number = number + 1;
            if let Some(name) = line
                .strip_prefix("[[")
                .and_then(|rest| rest.split_once("]]"))
            {
                let name = unquote(name.0);
                let index = match arrays.iter_mut().find(|(array, _)| *array == name) {
                    Some((_, count)) => {
                        *count += 1;
                        *count - 1
                    }
                    None => {
                        arrays.push((name.clone(), 1));
                        0
                    }
                };
                table = format!("{name}[{index}]");
                entries.push((table.clone(), number));
            } else if let Some(name) = line
                .strip_prefix('[')
                .filter(|rest| !rest.starts_with('['))
                .and_then(|rest| rest.split_once(']'))
            {
                table = unquote(name.0);
                entries.push((table.clone(), number));
            } else if let Some((key, _)) = line.split_once('=') {
                let starts_like_a_key = key.trim_start().starts_with(|c: char| {
                    c.is_alphanumeric() || matches!(c, '_' | '-' | '"' | '\'')
                });
                if !starts_like_a_key {
                    continue;
                }
                let key = unquote(key);
                let path = if table.is_empty() {
                    key
                } else {
                    format!("{table}.{key}")
                };
                entries.push((path, number));
            }
        }
        Self { entries }
    }

    /// The line of `path`, or of the closest enclosing table that appears in the file,
    /// or of the first key under `path`.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let exact = |wanted: &str| {
            self.entries
                .iter()
                .find(|(entry, _)| entry == wanted)
                .map(|(_, line)| *line)
        };
        if let Some(line) = exact(path) {
            return Some(line);
        }
        let nested = format!("{path}.");
        if let Some((_, line)) = self
            .entries
            .iter()
            .find(|(entry, _)| entry.starts_with(&nested))
        {
            return Some(*line);
        }
        let mut prefix = path;
        while let Some((head, _)) = prefix.rsplit_once('.') {
            if let Some(line) = exact(head) {
                return Some(line);
            }
            prefix = head;
        }
        None
    }

    /// The path of the key or table written on line `line`, if one is.
    pub fn path_at(&self, line: usize) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, at)| *at == line)
            .map(|(path, _)| path.as_str())
    }
}

/// The line (from 1) of byte `offset` in `text`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|byte| **byte == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"a\"\nconcurrency = 0\n\n[limits]\nrequests_per_minute = 5\n\n\
                        [[batches]]\ntier = \"template\"\ncount = 2\n\n[[batches]]\ntier = \"x\"\n\
                        [tiers.long]\ninput_tokens = 3\n";

    #[test]
    fn keys_under_tables_and_arrays_have_their_lines() {
        let keys = KeyLines::scan(TEXT);
        assert_eq!(keys.line_of("concurrency"), Some(2));
        assert_eq!(keys.line_of("limits.requests_per_minute"), Some(5));
        assert_eq!(keys.line_of("batches[1].tier"), Some(12));
        assert_eq!(keys.line_of("tiers.long.input_tokens"), Some(14));
    }

    #[test]
    fn a_missing_key_falls_back_to_its_table() {
        let keys = KeyLines::scan(TEXT);
        assert_eq!(keys.line_of("batches[1].count"), Some(11));
        assert_eq!(keys.line_of("tiers"), Some(13));
        assert_eq!(keys.line_of("backoff.base_ms"), None);
    }

    #[test]
    fn a_line_belongs_to_the_key_written_on_it() {
        let keys = KeyLines::scan(TEXT);
        assert_eq!(keys.path_at(9), Some("batches[0].count"));
        assert_eq!(keys.path_at(10), None, "a blank line holds no key");
        let broken = KeyLines::scan("name = \"a\"\n[[batches]\ncount = 1\n");
        assert_eq!(broken.path_at(2), None, "a broken header is no table");
        assert_eq!(line_of_offset(TEXT, TEXT.find("requests").unwrap()), 5);
    }
}
