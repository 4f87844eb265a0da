//! Benchmark (not a test): `render_bench make W H FILE` writes a photo-like JPEG; `render_bench
//! render FILE` renders its previews as the function does and reports time and output sizes,
//! plus the size the large preview would have as lossless WebP (the only WebP `image` writes).
//! Peak memory is the process's, read by `scripts/bench-preview` with `/usr/bin/time -v`.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("make") => {
            let (w, h): (u32, u32) = (args[1].parse().unwrap(), args[2].parse().unwrap());
            // Smooth gradients plus pixel noise: compresses like a photo, not like a flat card.
            let mut seed = 0x2545_f491_u32;
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let n = (seed % 24) as u8;
                image::Rgb([
                    ((x * 255 / w) as u8).saturating_add(n),
                    ((y * 255 / h) as u8).saturating_add(n),
                    (((x + y) * 255 / (w + h)) as u8).saturating_add(n),
                ])
            });
            let mut out = std::io::BufWriter::new(std::fs::File::create(&args[3]).unwrap());
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
                .encode_image(&img)
                .unwrap();
        }
        Some("render") => {
            let bytes = std::fs::read(&args[1]).unwrap();
            let started = Instant::now();
            let rendered = make_preview::render::render(&bytes).unwrap();
            let took = started.elapsed();
            println!(
                "source {} bytes, {}x{}: rendered in {:.0} ms",
                bytes.len(),
                rendered.width,
                rendered.height,
                took.as_secs_f64() * 1000.0
            );
            for p in &rendered.previews {
                let decoded = image::load_from_memory(&p.jpeg).unwrap();
                let mut webp = Vec::new();
                decoded
                    .write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut webp))
                    .unwrap();
                println!(
                    "{:?} {}x{}: JPEG q{} {} bytes, lossless WebP {} bytes",
                    p.size,
                    p.width,
                    p.height,
                    make_preview::render::JPEG_QUALITY,
                    p.jpeg.len(),
                    webp.len()
                );
            }
        }
        _ => eprintln!("usage: render_bench make W H FILE | render_bench render FILE"),
    }
}
