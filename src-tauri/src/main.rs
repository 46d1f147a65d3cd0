//! Inkset Draw's desktop binary.
// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    inkset_draw::run();
}
