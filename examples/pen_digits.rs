//! Writes the ten pen-drawn stand-in digits the tests use (`tests/pen.rs`) into a folder, as
//! PNG, for trying `reconstruct --image`: `cargo run --release --example pen_digits -- DIR`.

#[path = "../tests/pen.rs"]
mod pen;

fn main() {
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "pen-digits".into()),
    );
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create '{}': {e}", dir.display());
        std::process::exit(1);
    }
    for digit in 0..10u8 {
        let image = pen::draw_digit(
            digit,
            240 + 12 * u32::from(digit),
            300,
            [35, 35, 60],
            [232, 228, 214],
        );
        let path = dir.join(format!("digit-{digit}.png"));
        if let Err(e) = image.save(&path) {
            eprintln!("error: cannot write '{}': {e}", path.display());
            std::process::exit(1);
        }
    }
    println!("Wrote digit-0.png ... digit-9.png in '{}'", dir.display());
}
