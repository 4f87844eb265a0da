//! Image previews: which files get them, their sizes, and what a file's row says of them.

use super::*;

/// Content types a preview is made for (parameters and case ignored). Anything else says
/// `unsupported_format`; docs/decisions.md says how HEIC, video and PDF would be added.
pub fn is_previewable(content_type: &str) -> bool {
    matches!(
        crate::domain::disposition::media_type(content_type).as_str(),
        "image/jpeg" | "image/jpg" | "image/png" | "image/gif" | "image/webp"
    )
}

/// Where a file's preview stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[derive(strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum PreviewStatus {
    /// Being made (or the upload is still under way).
    Pending,
    Ready,
    /// There is none, and there will be none: `reason` says why.
    #[default]
    None,
}

impl PreviewStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why a file has no preview.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum NoPreviewReason {
    /// Not JPEG, PNG, GIF or WebP (by declared type, or by its bytes).
    UnsupportedFormat,
    /// Above the decoder's limits (pixels, side, memory, or file size).
    TooLarge,
    /// Corrupt or truncated.
    Undecodable,
    /// Expired or deleted: its previews went with it.
    FileGone,
    /// Uploaded before previews existed.
    NotGenerated,
}

impl NoPreviewReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The two preview sizes: the longest side at most 320 px (grids) or 1280 px (full screen);
/// never larger than the image itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum PreviewSize {
    Small,
    Large,
}

impl PreviewSize {
    pub const ALL: [PreviewSize; 2] = [PreviewSize::Small, PreviewSize::Large];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Longest side, in pixels.
    pub fn max_side(self) -> u32 {
        match self {
            Self::Small => 320,
            Self::Large => 1280,
        }
    }

    /// `small` or `large`, as a query parameter names it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|size| size.as_str() == s)
    }
}

/// One stored preview: its size name and its real dimensions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewDimensions {
    pub size: PreviewSize,
    pub width: u32,
    pub height: u32,
}

/// What the Files row keeps about previews. All empty on older rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreviewRecord {
    pub status: Option<PreviewStatus>,
    pub reason: Option<NoPreviewReason>,
    /// The image's upright dimensions (after EXIF orientation), known once it was decoded.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sizes: Vec<PreviewDimensions>,
}

/// `preview` in file info.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewView {
    pub status: PreviewStatus,
    /// The sizes there are (`ready` only), each with its dimensions. Previews are JPEG.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub sizes: Vec<PreviewDimensions>,
    /// Why there is none (`none` only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<NoPreviewReason>,
    /// A presigned URL of the preview of `url_size`, when the listing asked for them
    /// (`preview_urls=small|large`) and the preview is ready.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url_size: Option<PreviewSize>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url_expires_at: Option<String>,
}
