//! Rules for text people see: titles, file names and message text. Control characters and
//! bidirectional formatting characters are refused, because they change what a reader sees
//! (`invoice\u{202E}fdp.exe` displays as `invoiceexe.pdf`) or break terminals and logs. A label
//! must also show something: one made only of invisible characters reads as a blank.

use crate::{ApiError, ErrorCode};

/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;

/// Unicode's Bidi_Control set: the explicit ones below and the marks ALM, LRM and RLM
/// (U+061C, U+200E, U+200F).
pub fn is_bidi_control(c: char) -> bool {
    is_explicit_bidi(c) || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}')
}

/// Bidi embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069): they reorder
/// whole runs.
fn is_explicit_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, 16.0): drawn as nothing
/// on their own (zero-width spaces and joiners, variation selectors, tags, Hangul fillers).
fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// A one-line label (title, file name): 1..=`max_chars` characters after trimming, at least one
/// of them visible (neither whitespace nor default-ignorable), with no control characters (C0,
/// DEL, C1), line or paragraph separators (U+2028, U+2029) or bidi controls. Invisible
/// characters beside visible ones stay: emoji need ZWJ and variation selectors, Persian ZWNJ.
/// Returns the trimmed label.
pub fn label<'a>(
    value: &'a str,
    max_chars: usize,
    code: ErrorCode,
    what: &str,
) -> Result<&'a str, ApiError> {
    let trimmed = value.trim();
    let fits = trimmed.chars().nth(max_chars).is_none();
    let shows = trimmed
        .chars()
        .any(|c| !c.is_whitespace() && !is_default_ignorable(c));
    if !fits
        || !shows
        || trimmed
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_bidi_control(c))
    {
        return Err(ApiError::new(
            code,
            format!(
                "{what} must be 1-{max_chars} characters, some visible, without control, line-separator or bidirectional formatting characters"
            ),
        ));
    }
    Ok(trimmed)
}

/// Message text: line breaks and tabs are fine, other control characters and the explicit bidi
/// controls are not. The bidi marks stay: people writing right-to-left type and paste them in
/// running text, and they cannot reorder whole runs.
pub fn message_text(value: &str) -> Result<&str, ApiError> {
    if value
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_explicit_bidi(c))
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

    /// Each caller's code and length: display names, titles, upload names.
    const CALLERS: [(ErrorCode, usize); 3] = [
        (ErrorCode::InvalidDisplayName, MAX_DISPLAY_NAME_CHARS),
        (ErrorCode::InvalidTitle, 200),
        (ErrorCode::InvalidName, 255),
    ];

    /// Every case that `label` accepts, or refuses with another code than the caller's.
    fn not_refused_by_every_caller(cases: &[&str]) -> Vec<String> {
        let mut wrong = Vec::new();
        for case in cases {
            for (code, max) in CALLERS {
                match label(case, max, code, "name") {
                    Err(e) if e.code == code => {}
                    other => wrong.push(format!("{case:?} as {code:?}: {other:?}")),
                }
            }
        }
        wrong
    }

    #[test]
    fn labels_refuse_every_bidi_control() {
        // ALM, LRM and RLM are Bidi_Control too: next to right-to-left text they move digits
        // and punctuation.
        let wrong = not_refused_by_every_caller(&[
            "a\u{061C}b",
            "a\u{200E}b",
            "a\u{200F}b",
            "\u{200F}123",
            "a\u{202B}b",
            "a\u{202D}b",
            "a\u{2067}b",
            "a\u{2068}b",
        ]);
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn labels_refuse_line_and_paragraph_separators() {
        let wrong = not_refused_by_every_caller(&["two\u{2028}lines", "two\u{2029}paragraphs"]);
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn labels_refuse_names_with_nothing_visible() {
        let wrong = not_refused_by_every_caller(&[
            "\u{200B}",
            "\u{2060}",
            "\u{FEFF}",
            "\u{200D}",
            "\u{FE0F}",
            "\u{00AD}",
            "\u{3164}",
            "\u{115F}\u{1160}",
            "\u{E0020}\u{E007F}",
            " \u{200B} ",
            "\u{200B} \u{2060}\u{3000}\u{FEFF}",
            "\u{200C}\u{00A0}\u{200D}",
        ]);
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn labels_keep_emoji_sequences_and_invisible_marks_beside_visible_text() {
        // ZWJ sequences, variation selectors, regional-indicator and tag flags, a keycap;
        // a soft hyphen, Persian ZWNJ, a zero-width space and a BOM beside visible text.
        for ok in [
            "👨\u{200D}👩\u{200D}👧",
            "🏳\u{FE0F}\u{200D}🌈",
            "Team 👩\u{200D}💻",
            "❤\u{FE0F}",
            "🇳🇴",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "#\u{FE0F}\u{20E3}",
            "Zoë\u{00AD}Marie",
            "می\u{200C}خواهم",
            "a\u{200B}b",
            "\u{FEFF}report.pdf",
            "שלום",
            "مرحبا",
            "한국어",
        ] {
            for (code, max) in CALLERS {
                assert_eq!(label(ok, max, code, "name").unwrap(), ok, "{ok:?}");
            }
        }
    }

    #[test]
    fn text_keeps_newlines_and_tabs_only() {
        assert!(message_text("line one\nline\ttwo").is_ok());
        assert!(message_text("שלום עולם, مرحبا").is_ok());
        // The bidi marks stay in running text (labels refuse them).
        assert!(message_text("שלום\u{200F} 123 \u{200E}abc \u{061C}١٢").is_ok());
        for bad in ["nul\0", "esc\u{1b}", "cr\r", "bidi\u{202E}", "iso\u{2067}x"] {
            assert_eq!(
                message_text(bad).unwrap_err().code,
                "invalid_text",
                "{bad:?}"
            );
        }
    }
}
