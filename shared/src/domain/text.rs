//! Rules for text people see: titles, file names and message text. Control characters and
//! bidirectional formatting characters are refused, because they change what a reader sees
//! (`invoice\u{202E}fdp.exe` displays as `invoiceexe.pdf`) or break terminals and logs.

use crate::{ApiError, ErrorCode};

/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// Bidi embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A one-line label (title, file name): 1..=`max_chars` characters after trimming, with no
/// control characters (C0, DEL, C1) and no bidi controls. Returns the trimmed label.
pub fn label<'a>(
    value: &'a str,
    max_chars: usize,
    code: ErrorCode,
    what: &str,
) -> Result<&'a str, ApiError> {
    let trimmed = value.trim();
    let fits = !trimmed.is_empty() && trimmed.chars().nth(max_chars).is_none();
    if !fits
        || trimmed
            .chars()
            .any(|c| c.is_control() || is_bidi_control(c))
    {
        return Err(ApiError::new(
            code,
            format!(
                "{what} must be 1-{max_chars} characters without control or bidirectional formatting characters"
            ),
        ));
    }
    Ok(trimmed)
}

/// Message text: line breaks and tabs are fine, other control and bidi characters are not.
pub fn message_text(value: &str) -> Result<&str, ApiError> {
    if value
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c))
    {
        return Err(ApiError::new(ErrorCode::InvalidText,
            "text must not contain control characters (other than line breaks and tabs) or bidirectional formatting characters",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_refuse_controls_and_bidi() {
        assert_eq!(
            label("  report.pdf ", 10, ErrorCode::InvalidName, "name").unwrap(),
            "report.pdf"
        );
        assert_eq!(
            label("季度报告.pdf", 10, ErrorCode::InvalidName, "name").unwrap(),
            "季度报告.pdf"
        );
        for bad in [
            "",
            "   ",
            "invoice\u{202E}fdp.exe",
            "a\u{2066}b",
            "a\u{2069}b",
            "a\u{202A}b",
            "tab\tname",
            "nul\0",
            "esc\u{1b}[31m",
            "del\u{7f}",
            "c1\u{85}x",
            "elevenchars",
        ] {
            assert_eq!(
                label(bad, 10, ErrorCode::InvalidName, "name")
                    .unwrap_err()
                    .code,
                "invalid_name",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn text_keeps_newlines_and_tabs_only() {
        assert!(message_text("line one\nline\ttwo").is_ok());
        assert!(message_text("שלום עולם, مرحبا").is_ok());
        for bad in ["nul\0", "esc\u{1b}", "cr\r", "bidi\u{202E}", "iso\u{2067}x"] {
            assert_eq!(
                message_text(bad).unwrap_err().code,
                "invalid_text",
                "{bad:?}"
            );
        }
    }
}
