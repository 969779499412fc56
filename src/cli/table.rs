//! Plain aligned columns for people: a header row, then one row per
//! record, each column as wide as its widest cell. No borders, so the
//! output also greps and pastes well.

use std::io::Write;

/// Prints `rows` under `headers`; `empty` instead when there are none.
pub fn print(headers: &[&str], rows: &[Vec<String>], empty: &str) {
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        let _ = writeln!(out, "{empty}");
        return;
    }
    let _ = out.write_all(render(headers, rows).as_bytes());
}

/// The table as text, every line ending in a newline.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut text = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec!["a".to_string(), "long value".to_string(), "x".to_string()],
            vec!["bbbb".to_string(), "v".to_string(), "y".to_string()],
        ];
        assert_eq!(
            render(&["ID", "WHAT", "Z"], &rows),
            "ID    WHAT        Z\na     long value  x\nbbbb  v           y\n"
        );
    }
}
