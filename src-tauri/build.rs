//! Tauri's build step: app context, icons, capabilities. The web UI must be built first
//! (`npm --prefix ui ci && npm --prefix ui run build`); its `dist/` is embedded.

fn main() {
    let dist = std::path::Path::new("../ui/dist/index.html");
    println!("cargo:rerun-if-changed=../ui/dist");
    if !dist.exists() {
        // tauri's own message would only say the directory is missing.
        println!(
            "cargo:warning=ui/dist is missing: run `npm --prefix ui ci && npm --prefix ui run build` first"
        );
    }
    tauri_build::build();
}
