//! nexus: durable links from git commits back to the OpenAI Codex conversations that produced
//! them. The binary is a thin shell around this library (`cli::main`); the library is split by
//! concern, in the order a capture uses them:
//!
//! - [`roots`]: where the Codex home and the two stores are, and why;
//! - [`gitfacts`]: the commit, branch, origin and slug, through libgit2;
//! - [`codex`]: what a Codex transcript line means (every historical shape);
//! - [`objects`]: the object store layout, manifests and reconstruction from the archive chain;
//! - [`export`]: the incremental export of the Codex home into the object store;
//! - [`history`]: the import of a snapshot into canonical history (the event store);
//! - [`link`]: linking a commit to the conversations whose edits are in it (by content);
//! - [`checkpoint`]: the checkpoint manifests and the one type that owns their directory;
//! - [`capture`]: the recipe that runs the steps above for one commit;
//! - [`rewrite`]: checkpoints of commits rewritten by an amend or a rebase (post-rewrite);
//! - [`report`]: from a commit (or a conversation) back to the other side;
//! - [`packet`]: the review packet of a commit range (a pull request's conversations);
//! - [`search`]: the rebuildable full-text index over canonical history and checkpoints;
//! - [`show`]: one whole conversation streamed back as turns, messages and tool calls;
//! - [`hooks`]: the managed git hooks that run the capture after every commit;
//! - [`hookname`]: the managed hooks' names (a leaf: capture, spool and hooks all use it);
//! - [`hooklog`]: the hooks' status log (one line format, written by the block and the spool);
//! - [`spool`]: the queue the post-commit hook hands commits to, drained by a detached worker;
//! - [`progress`]: the stderr progress bar of a long (first) capture;
//! - [`wait`]: `report` waiting for a capture the hook queued;
//! - [`doctor`]: roots, hooks, spool, last captures and sync of one repository, with fixes;
//! - [`verify`]: the read-only integrity check of both stores;
//! - [`sync`]: the event store as a git repository, team shares, `nexus sync` (SPEC §13);
//! - [`redact`]: credential shapes cut from canonical history before it is written;
//! - [`text`]: terminal-safe display of transcript-derived text (escape sequences made visible);
//! - [`lock`], [`fsutil`]: the shared-root lock and atomic, owner-only file writes;
//! - [`alloc`]: one malloc arena for every thread (peak memory);
//! - [`rng`]: the deterministic PRNG of the benchmark generator and the randomized tests;
//! - [`fault`]: named crash points for the crash-safety harness (debug builds only);
//! - [`exit`]: the exit statuses and the one mapping from an error to its status;
//! - [`cli`]: the command line — the only place with clap, standard output and exit codes.

#![warn(missing_docs)]
// The module map above names private modules too (`cargo doc --document-private-items`).
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod alloc;
pub(crate) mod capture;
pub mod checkpoint;
pub mod cli;
#[allow(missing_docs)] // public for tests, fuzz targets and the benchmark; not fully documented yet
pub mod codex;
pub(crate) mod doctor;
pub(crate) mod exit;
pub(crate) mod export;
pub mod fault;
pub mod fsutil;
pub mod gitfacts;
#[allow(missing_docs)] // public for tests, fuzz targets and the benchmark; not fully documented yet
pub mod history;
pub(crate) mod hooklog;
pub(crate) mod hookname;
pub(crate) mod hooks;
pub(crate) mod link;
pub(crate) mod lock;
#[allow(missing_docs)] // public for tests, fuzz targets and the benchmark; not fully documented yet
pub mod objects;
pub(crate) mod packet;
pub(crate) mod progress;
pub mod redact;
pub(crate) mod report;
pub(crate) mod rewrite;
pub mod rng;
pub(crate) mod roots;
pub(crate) mod search;
pub(crate) mod show;
pub mod spool;
pub(crate) mod sync;
pub(crate) mod text;
pub(crate) mod timefmt;
pub(crate) mod verify;
pub(crate) mod wait;
