//! A large export (a first capture) is stored on two threads (issue 15, the baseline budget):
//! the object store it writes is the same, byte for byte, as the one-thread store's — the
//! snapshot's manifest lists the files in the same order with the same hashes and stored
//! sizes, the compressed archive files and `latest/` hold the same bytes — and `verify`
//! accepts it. A steady-state export (one grown file) stays on one thread.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{TestEnv, bench};

/// Debug builds: forces the export's number of store threads.
const THREADS_ENV: &str = "NEXUS_EXPORT_STORE_THREADS";

/// `export --json` into `objects`, with the store threads forced when `threads` is given.
fn export(env: &TestEnv, objects: &Path, threads: Option<usize>) -> serde_json::Value {
    let mut cmd = env.nexus(env.path());
    cmd.env("NEXUS_OBJECTS_ROOT", objects);
    if let Some(n) = threads {
        cmd.env(THREADS_ENV, n.to_string());
    }
    let out = cmd.args(["export", "--json"]).output().expect("run nexus export");
    assert!(out.status.success(), "export: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("export --json")
}

/// Every file under `root` (relative path -> bytes), with the snapshot's name (in paths, the
/// manifests, the head and the exporter's state) and the manifests' export time, which differ
/// between two exports, masked.
fn files(root: &Path, snapshot: &str) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, root: &Path, snapshot: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, root, snapshot, out);
                continue;
            }
            // The exporter's state names its log by time and process (its entries are those
            // `latest/`'s manifest lists, compared below).
            if path.file_name().is_some_and(|n| n == "export-state.bin") {
                continue;
            }
            let rel = path.strip_prefix(root).expect("under root").to_string_lossy().replace(snapshot, "SNAPSHOT");
            let mut bytes = mask(&fs::read(&path).expect("read"), snapshot.as_bytes());
            if rel.ends_with("export-manifest.toml") {
                let text = String::from_utf8(bytes).expect("utf-8 manifest");
                let mut manifest: toml::Table = toml::from_str(&text).expect("manifest TOML");
                manifest.remove("exported_at");
                bytes = toml::to_string(&manifest).expect("TOML").into_bytes();
            }
            out.insert(rel, bytes);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, snapshot, &mut out);
    out
}

/// `bytes` with every occurrence of `name` replaced by as many `#` (same length: the binary
/// exporter state stays well formed).
fn mask(bytes: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(name) {
            out.extend(std::iter::repeat_n(b'#', name.len()));
            i += name.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn verify(env: &TestEnv, objects: &Path) {
    let out = env.nexus(env.path()).env("NEXUS_OBJECTS_ROOT", objects).arg("verify").output().expect("run verify");
    assert!(
        out.status.success(),
        "verify of {}: {}{}",
        objects.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_large_export_on_two_threads_stores_the_same_bytes_as_on_one() {
    let env = TestEnv::new();
    let home = env.codex_home();
    let transcripts = 300;
    let active = PathBuf::from(bench(
        &env,
        &["gen", "--home", home.to_str().unwrap(), "--transcripts", &transcripts.to_string(), "--tiny"],
    ));
    let (one, two) = (env.path().join("objects-1"), env.path().join("objects-2"));

    let serial = export(&env, &one, Some(1));
    assert_eq!(serial["store_threads"].as_u64(), Some(1), "{serial}");
    // Without forcing: as many threads as the machine has cores, at most two.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2) as u64;
    let default = export(&env, &two, None);
    assert_eq!(default["store_threads"].as_u64(), Some(cores), "{default}");
    let parallel = if cores == 2 {
        default
    } else {
        fs::remove_dir_all(&two).expect("remove the one-core export");
        export(&env, &two, Some(2))
    };
    assert_eq!(parallel["store_threads"].as_u64(), Some(2), "{parallel}");

    let (c1, c2) = (&serial["counts"], &parallel["counts"]);
    assert_eq!(c1, c2, "same counts");
    assert_eq!(c2["stored_whole"].as_u64(), Some(transcripts + 1), "{c2}");
    assert!(c2["bytes_stored"].as_u64().unwrap() > 0, "{c2}");
    let (s1, s2) = (serial["snapshot_name"].as_str().unwrap(), parallel["snapshot_name"].as_str().unwrap());
    let (f1, f2) = (files(&one, s1), files(&two, s2));
    assert!(f1.len() > 2 * transcripts as usize, "the archive and latest/ hold every file: {}", f1.len());
    assert_eq!(f1.keys().collect::<Vec<_>>(), f2.keys().collect::<Vec<_>>(), "same files");
    for (path, bytes) in &f1 {
        assert!(bytes == &f2[path], "{path} differs between the one- and the two-thread store");
    }
    verify(&env, &one);
    verify(&env, &two);

    // Steady state: one grown transcript is stored on one thread, after the two-thread export.
    bench(&env, &["grow", "--session", active.to_str().unwrap(), "--bytes", "20000"]);
    let steady = export(&env, &two, None);
    assert_eq!(steady["store_threads"].as_u64(), Some(1), "{steady}");
    assert_eq!(steady["counts"]["stored_append"].as_u64(), Some(1), "{steady}");
    verify(&env, &two);
}
