//! Build script: records the target triple, so that `--version` can say
//! which machine a binary is for (a static x86_64 and aarch64 build look
//! alike on disk).

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=IMAPCHECK_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
