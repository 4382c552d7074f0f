//! Browser entry point: logging to the console, then the app.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    if console_log::init_with_level(log::Level::Info).is_err() {
        leptos::logging::warn!("a logger was already installed; keeping it");
    }
    leptos::mount::mount_to_body(onepulse::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the OnePulse app runs in the browser: `cargo xtask dev` serves it");
}
