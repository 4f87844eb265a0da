//! The image work, with no storage in sight: bytes in, JPEG previews out, or the reason there
//! are none. Limits are checked on the header before any pixel is decoded, so a decompression
//! bomb costs a header parse, not the function's memory.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};
use shared::api::previews::{Preview, Refused, Rendered};
use shared::domain::model::{NoPreviewReason, PreviewSize};

/// Most pixels an image may have (50 MP: a 12 MP phone photo, or an 8K frame, fit easily).
pub const MAX_PIXELS: u64 = 50_000_000;
/// Longest side accepted on either axis (a 30000 x 1000 panorama is fine, one wider is not).
pub const MAX_SIDE: u32 = 30_000;
/// Most memory the decoder may allocate at once (50 MP RGBA is 200 MB).
pub const MAX_ALLOC: u64 = 256 * 1024 * 1024;
/// JPEG quality of the previews (measured against WebP in docs/performance.md).
pub const JPEG_QUALITY: u8 = 80;

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

fn refused(e: ImageError) -> Refused {
    let reason = match &e {
        ImageError::Limits(_) => NoPreviewReason::TooLarge,
        ImageError::Unsupported(_) => NoPreviewReason::UnsupportedFormat,
        _ => NoPreviewReason::Undecodable,
    };
    Refused::new(reason, e.to_string())
}

/// Decodes `bytes` (JPEG, PNG, GIF or WebP, told by their content, not their declared type),
/// turns them upright (EXIF orientation) and encodes each preview size. Animated images give
/// their first frame; transparency is flattened onto white (JPEG has none).
pub fn render(bytes: &[u8]) -> Result<Rendered, Refused> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Refused::new(NoPreviewReason::Undecodable, e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Jpeg) if !jpeg_is_complete(bytes) => {
            return Err(Refused::new(
                NoPreviewReason::Undecodable,
                "truncated JPEG: its last scan has no end",
            ))
        }
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP) => {}
        other => {
            return Err(Refused::new(
                NoPreviewReason::UnsupportedFormat,
                format!("content is {other:?}"),
            ))
        }
    }
    reader.limits(limits());
    // Parses the header only; the limits' width and height are checked here.
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(Refused::new(
            NoPreviewReason::TooLarge,
            format!("{w}x{h} is above {MAX_PIXELS} pixels"),
        ));
    }
    // A broken EXIF block is no reason to refuse the picture: it stays as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refused)?;
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    let mut previews = Vec::with_capacity(PreviewSize::ALL.len());
    // Largest first, each smaller one from the previous: the full image is scaled once.
    let mut source = image;
    for size in [PreviewSize::Large, PreviewSize::Small] {
        source = fit(&source, size.max_side());
        let rgb = flatten(&source);
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
            .encode_image(&rgb)
            .map_err(|e| Refused::new(NoPreviewReason::Undecodable, e.to_string()))?;
        previews.push(Preview {
            size,
            width: rgb.width(),
            height: rgb.height(),
            jpeg,
        });
    }
    previews.reverse();
    Ok(Rendered {
        width,
        height,
        previews,
    })
}

/// Whether the JPEG's last scan (`FF DA`) is followed by an end of image (`FF D9`). The JPEG
/// decoder fills a cut-off scan with grey rather than failing, which would make half a photo
/// look like its preview. Inside a scan `FF` is always escaped, so neither marker can appear
/// there by chance; data after the end (or a second, complete picture) is fine.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_scan {
        None => false,
        Some(at) => bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]),
    }
}

/// The image scaled so its longest side is at most `max_side` (never enlarged). `thumbnail`
/// averages whole source areas into each pixel: sharp for large reductions, and it allocates
/// only the output.
fn fit(image: &DynamicImage, max_side: u32) -> DynamicImage {
    if image.width().max(image.height()) <= max_side {
        return image.clone();
    }
    image.thumbnail(max_side, max_side)
}

/// RGB on white, whatever the colour type.
fn flatten(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn small_images_are_not_enlarged() {
        let r = render(&png(100, 40)).unwrap();
        assert_eq!((r.width, r.height), (100, 40));
        for p in &r.previews {
            assert_eq!((p.width, p.height), (100, 40), "{:?}", p.size);
        }
    }

    #[test]
    fn sizes_fit_their_longest_side() {
        let r = render(&png(2000, 1000)).unwrap();
        let dims: Vec<_> = r
            .previews
            .iter()
            .map(|p| (p.size, p.width, p.height))
            .collect();
        assert_eq!(
            dims,
            vec![
                (PreviewSize::Small, 320, 160),
                (PreviewSize::Large, 1280, 640)
            ]
        );
    }

    #[test]
    fn a_cut_jpeg_is_undecodable() {
        let img = image::RgbImage::from_pixel(64, 64, image::Rgb([10, 200, 30]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        let whole = out.into_inner();
        assert!(render(&whole).is_ok());
        let err = render(&whole[..whole.len() - 10]).unwrap_err();
        assert_eq!(err.reason, NoPreviewReason::Undecodable);
    }

    #[test]
    fn other_content_is_unsupported() {
        let err = render(b"%PDF-1.7 not an image").unwrap_err();
        assert_eq!(err.reason, NoPreviewReason::UnsupportedFormat);
    }
}
