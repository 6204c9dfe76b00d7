//! A commit's patch id computed while linking walks its diff, so that a capture generates the
//! diff's patch once, not twice ([`crate::gitfacts::patch_id`] asks libgit2 for it, which
//! prints the whole diff again).
//!
//! It is libgit2's `git_diff_patchid` (1.9, `diff.c`), step for step, fed with the lines of the
//! same `git_diff_print` in `GIT_DIFF_FORMAT_PATCH_ID` format: each printed line (the origin
//! character first for added, removed and context lines; the end-of-file newline markers
//! skipped) has its ASCII whitespace removed (up to a NUL byte) and goes into a SHA-1; each file
//! header but the first closes the previous file's SHA-1, and the per-file digests are added as
//! little-endian 160-bit numbers. A unit test checks it against libgit2 on added, changed,
//! deleted, binary and several-file commits.

/// The patch id being computed over the printed lines of one diff.
pub struct PatchId {
    sha: Sha1,
    result: [u8; 20],
    first_file: bool,
    line: Vec<u8>,
}

impl Default for PatchId {
    fn default() -> Self {
        PatchId { sha: Sha1::new(), result: [0; 20], first_file: true, line: Vec::new() }
    }
}

impl PatchId {
    /// One line of `git_diff_print` (`origin` as libgit2 gives it, `content` its bytes).
    pub fn line(&mut self, origin: char, content: &[u8]) {
        if matches!(origin, '=' | '>' | '<') {
            return;
        }
        self.line.clear();
        if matches!(origin, '+' | '-' | ' ') {
            self.line.push(origin as u8);
        }
        self.line.extend_from_slice(content);
        let end = self.line.iter().position(|&b| b == 0).unwrap_or(self.line.len());
        self.line.truncate(end);
        self.line.retain(|&b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'));
        if origin == 'F' && !self.first_file {
            self.flush();
        }
        self.sha.update(&self.line);
        if origin == 'F' {
            self.first_file = false;
        }
    }

    fn flush(&mut self) {
        let digest = std::mem::replace(&mut self.sha, Sha1::new()).finish();
        let mut carry: u16 = 0;
        for (r, d) in self.result.iter_mut().zip(digest) {
            carry += u16::from(*r) + u16::from(d);
            *r = carry as u8;
            carry >>= 8;
        }
    }

    /// The patch id, hex.
    pub fn finish(mut self) -> String {
        self.flush();
        self.result.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// SHA-1 (FIPS 180-4), as git's object ids and patch ids use it.
struct Sha1 {
    h: [u32; 5],
    block: [u8; 64],
    filled: usize,
    len: u64,
}

impl Sha1 {
    fn new() -> Sha1 {
        Sha1 { h: [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0], block: [0; 64], filled: 0, len: 0 }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let take = (64 - self.filled).min(data.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled == 64 {
                let block = self.block;
                self.compress(&block);
                self.filled = 0;
            }
        }
    }

    fn compress(&mut self, block: &[u8; 64]) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = self.h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (h, v) in self.h.iter_mut().zip([a, b, c, d, e]) {
            *h = h.wrapping_add(v);
        }
    }

    fn finish(mut self) -> [u8; 20] {
        let bits = self.len.wrapping_mul(8);
        self.update(&[0x80]);
        while self.filled != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        let mut out = [0; 20];
        for (o, h) in out.chunks_exact_mut(4).zip(self.h) {
            o.copy_from_slice(&h.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: [u8; 20]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_known_answers() {
        let sha = |data: &[u8]| {
            let mut s = Sha1::new();
            s.update(data);
            hex(s.finish())
        };
        assert_eq!(sha(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(sha(long), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
        assert_eq!(sha(&[b'a'; 1000]), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
    }

    /// The same ids as libgit2's `git_diff_patchid` on commits that add, change (several
    /// hunks, no newline at the end), delete, and add a binary file, and on several files.
    #[test]
    fn patch_ids_match_libgit2() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        let sig = git2::Signature::now("T", "t@example.com").expect("signature");
        let mut parent: Option<git2::Oid> = None;
        let long: String = (0..40).map(|i| format!("line number {i}\n")).collect();
        let changed = long.replace("line number 3\n", "line three\n").replace("line number 30\n", "  line   30\t\n");
        // Each commit: files written (Some) or deleted (None).
        type Step<'a> = Vec<(&'a str, Option<Vec<u8>>)>;
        let steps: Vec<Step> = vec![
            vec![("a.txt", Some(long.clone().into_bytes())), ("b.rs", Some(b"fn main() {}\n".to_vec()))],
            vec![("a.txt", Some(changed.into_bytes()))],
            vec![("b.rs", Some(b"fn main() {\n    run();\n}".to_vec())), ("c/d.md", Some(b"# Title\n".to_vec()))],
            vec![("a.txt", None)],
            vec![("bin.dat", Some(vec![0, 1, 2, 0, 255, 10, 0]))],
        ];
        let mut files: std::collections::BTreeMap<&str, Vec<u8>> = Default::default();
        for step in steps {
            for (path, content) in step {
                match content {
                    Some(c) => files.insert(path, c),
                    None => files.remove(path),
                };
            }
            let mut index = git2::Index::new().expect("index");
            for (path, content) in &files {
                let oid = repo.blob(content).expect("blob");
                let entry = git2::IndexEntry {
                    ctime: git2::IndexTime::new(0, 0),
                    mtime: git2::IndexTime::new(0, 0),
                    dev: 0,
                    ino: 0,
                    mode: 0o100644,
                    uid: 0,
                    gid: 0,
                    file_size: content.len() as u32,
                    id: oid,
                    flags: 0,
                    flags_extended: 0,
                    path: path.as_bytes().to_vec(),
                };
                index.add(&entry).expect("add");
            }
            let tree = repo.find_tree(index.write_tree_to(&repo).expect("tree")).expect("find tree");
            let parents: Vec<git2::Commit> = parent.iter().map(|p| repo.find_commit(*p).expect("parent")).collect();
            let refs: Vec<&git2::Commit> = parents.iter().collect();
            let oid = repo.commit(None, &sig, &sig, "step", &tree, &refs).expect("commit");
            let sha = oid.to_string();
            let (_, ours) = super::super::diff::commit_diff_and_patch_id(&repo, &sha).expect("diff");
            assert_eq!(ours, crate::gitfacts::patch_id(&repo, &sha), "commit {sha}");
            assert!(ours.is_some());
            parent = Some(oid);
        }
    }
}
