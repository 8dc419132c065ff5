//! Benchmark helper: the measured loss of an image against its source, exactly as ingest records it for a
//! coarser level (the image magnified back to the source's size, then PSNR, largest error and luma SSIM).
//!
//! usage: `cargo run --release -p ingest --example texture_quality -- SOURCE IMAGE`
#![allow(
    clippy::print_stdout,
    reason = "a command-line helper prints its result"
)]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, image] = args.as_slice() else {
        return Err("usage: texture_quality SOURCE IMAGE".into());
    };
    let source = image::open(source)?.to_rgba8();
    let image = image::open(image)?.to_rgba8();
    let magnified = ingest::texture::levels::magnify(&image, source.width(), source.height());
    let loss = ingest::texture::quality::compare(&source, &magnified);
    println!(
        "{}",
        serde_json::json!({ "width": image.width(), "height": image.height(), "loss": loss })
    );
    Ok(())
}
