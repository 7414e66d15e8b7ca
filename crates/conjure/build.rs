//! Links the `conjure` binary with packed relative relocations (`-z pack-relative-relocs`,
//! DT_RELR) where the toolchain and the C library support them.
//!
//! Why: conjure is a position-independent executable (address-space randomisation stays on),
//! so before `main` the loader patches some 33,000 pointers in it; their list alone is 800 KB
//! that the loader reads on every start. Packed, the list is 9 KB and applying it is quicker:
//! about 0.2 ms less before every command's first byte (`conjure text`'s first word
//! included; see BENCHMARKS.md, "Text").
//!
//! The loader of a C library older than glibc 2.36 refuses such a binary, and an older linker
//! does not know the option. So it is used only when a test program linked with it runs here;
//! when cross-compiling, never.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const FLAG: &str = "-Wl,-z,pack-relative-relocs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    let host = env::var("HOST").unwrap_or_default();
    if target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    if links_and_runs() {
        println!("cargo:rustc-link-arg-bins={FLAG}");
    }
}

/// Whether a C program linked with [`FLAG`] by the system's C compiler (the linker rustc
/// uses for this target) runs.
fn links_and_runs() -> bool {
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else { return false };
    let source = out.join("relr_probe.c");
    let program = out.join("relr_probe");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let linked = Command::new(cc)
        .arg(FLAG)
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success() && o.stderr.is_empty());
    linked && Command::new(&program).status().is_ok_and(|s| s.success())
}
