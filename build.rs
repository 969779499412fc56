//! The console's files are compiled into the binary with `include_dir!`,
//! which cargo does not track: rebuild when anything under console/ changes,
//! so a test never serves an old copy of the page.
fn main() {
    println!("cargo:rerun-if-changed=console");
    println!("cargo:rerun-if-changed=build.rs");
}
