# >>> NEXUS CODEX COMMIT CHECKPOINT >>>
# Managed by nexus @VERSION@ (block format @FORMAT@). `nexus install-codex-commit-checkpoint-hook`
# rewrites this block, `nexus uninstall-codex-commit-checkpoint-hook` removes it: edits between the
# markers are lost. It never changes this hook's exit status or what its standard input holds.
# Set NEXUS_SKIP_HOOK=1 to skip it. Log: @LOG_DIR_COMMENT@/codex-commit-checkpoint.log
if [ "${NEXUS_SKIP_HOOK:-}" != 1 ]; then
nexus_bin=@BIN@
nexus_dir=@LOG_DIR@
nexus_source_root=@SOURCE_ROOT@
nexus_objects_root=@OBJECTS_ROOT@
nexus_event_store_root=@EVENT_STORE_ROOT@
# nexus_hook_run HOOK COMMAND ARGS...: runs the nexus command for this repository in a subshell,
# without git's hook environment, and appends one status line to the log (bounded: rotated to
# .1 past 256 KiB). Exit status 3 ("already captured") is success. Always returns 0.
nexus_hook_run() (
  umask 077
  unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX GIT_COMMON_DIR GIT_OBJECT_DIRECTORY \
    GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_NAMESPACE GIT_QUARANTINE_PATH
  nexus_hook=$1
  shift
  nexus_log=$nexus_dir/codex-commit-checkpoint.log
  [ -d "$nexus_dir" ] || mkdir -p "$nexus_dir" 2>/dev/null
  if [ -f "$nexus_log" ]; then
    # Unquoted on purpose: field splitting drops the padding some wc implementations print.
    for nexus_size in $(wc -c <"$nexus_log" 2>/dev/null); do :; done
    [ "${nexus_size:-0}" -gt 262144 ] 2>/dev/null && mv -f "$nexus_log" "$nexus_log.1" 2>/dev/null
  fi
  if [ ! -x "$nexus_bin" ]; then
    if command -v nexus >/dev/null 2>&1; then
      nexus_bin=nexus
    else
      printf '%s %s exit=127 FAILED nexus not found: %s is missing and there is no nexus on PATH; this commit was not captured (re-run nexus install-codex-commit-checkpoint-hook)\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$nexus_hook" "$nexus_bin" >>"$nexus_log" 2>/dev/null
      exit 0
    fi
  fi
  [ -n "$nexus_source_root" ] && set -- "$@" --source-root "$nexus_source_root"
  [ -n "$nexus_objects_root" ] && set -- "$@" --objects-root "$nexus_objects_root"
  [ -n "$nexus_event_store_root" ] && set -- "$@" --event-store-root "$nexus_event_store_root"
  nexus_out=$("$nexus_bin" "$@" --repo-root "$PWD" 2>&1)
  nexus_status=$?
  case $nexus_status in
    0 | 3) nexus_verdict=ok ;;
    *) nexus_verdict=FAILED ;;
  esac
  [ -n "$nexus_out" ] && nexus_out=$(printf '%s' "$nexus_out" | tr '\n' ' ')
  printf '%s %s exit=%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$nexus_hook" "$nexus_status" "$nexus_verdict" \
    "$nexus_out" >>"$nexus_log" 2>/dev/null
  exit 0
)
# nexus_hook_spool HOOK [PAIRS]: queues HEAD for a detached capture and returns at once (a
# commit pays a few milliseconds, not the capture): appends `<time> <hook> <sha> <work tree>`
# to the spool under the common git dir, then starts a worker in the background (which exits
# at once when another holds the spool's lock). HOOK post-rewrite-<kind> with the file of
# git's `old new` PAIRS queues the linking of
# rewritten commits instead. A post-commit or an amend during a rebase is left to the rebase's
# own post-rewrite. NEXUS_HOOK_SYNC=1 runs nexus synchronously instead.
nexus_hook_spool() (
  umask 077
  # A work tree path with a line break or a tab cannot be a queue field: captured synchronously.
  case $PWD in *'
'* | *'	'*) NEXUS_HOOK_SYNC=1 ;; esac
  if [ "${NEXUS_HOOK_SYNC:-}" = 1 ]; then
    case $1 in
      post-rewrite-*)
        nexus_hook_run post-rewrite link-rewritten-codex-commit-checkpoints --kind "${1#post-rewrite-}" <"$2" ;;
      *) nexus_hook_run "$1" capture-codex-commit-checkpoint --quiet --hook "$1" ;;
    esac
    exit 0
  fi
  nexus_git=${GIT_INDEX_FILE:-}
  nexus_git=${nexus_git%/*}
  if [ -z "${GIT_INDEX_FILE:-}" ] || [ ! -f "$nexus_git/HEAD" ]; then
    # post-rewrite and post-merge get no GIT_INDEX_FILE. Without forking git where the answer
    # is plain (git runs hooks at the work tree's top): $GIT_DIR, else the work tree's .git, a
    # directory or a linked worktree's `gitdir:` file; anything else asks git.
    nexus_git=
    if [ -n "${GIT_DIR:-}" ]; then
      [ -f "$GIT_DIR/HEAD" ] && nexus_git=$GIT_DIR
    elif [ -f .git/HEAD ]; then
      nexus_git=.git
    elif [ -f .git ] && IFS= read -r nexus_c <.git 2>/dev/null; then
      case $nexus_c in "gitdir: "?*) [ -f "${nexus_c#gitdir: }/HEAD" ] && nexus_git=${nexus_c#gitdir: } ;; esac
    fi
    [ -n "$nexus_git" ] || nexus_git=$(git rev-parse --git-dir 2>/dev/null) || exit 0
  fi
  if [ "$1" != post-rewrite-rebase ] && { [ -d "$nexus_git/rebase-merge" ] || [ -d "$nexus_git/rebase-apply" ]; }; then
    exit 0
  fi
  # The queue and log of the repository that commits (a global hooks path serves many
  # repositories): under its common git dir, which a linked worktree's git dir names.
  nexus_common=$nexus_git
  if [ -f "$nexus_git/commondir" ] && IFS= read -r nexus_c <"$nexus_git/commondir" 2>/dev/null; then
    case $nexus_c in /*) nexus_common=$nexus_c ;; *) nexus_common=$nexus_git/$nexus_c ;; esac
  fi
  nexus_dir=$nexus_common/nexus-hooks
  # HEAD without forking git: the loose ref a commit has just written (else ask git).
  nexus_sha=
  IFS= read -r nexus_head <"$nexus_git/HEAD" 2>/dev/null
  case $nexus_head in
    "ref: "*)
      for nexus_f in "$nexus_git/${nexus_head#ref: }" "${nexus_dir%/*}/${nexus_head#ref: }"; do
        if [ -f "$nexus_f" ] && IFS= read -r nexus_sha <"$nexus_f"; then break; fi
      done ;;
    *) nexus_sha=$nexus_head ;;
  esac
  case $nexus_sha in
    *[!0-9a-f]* | "") nexus_sha=$(git rev-parse HEAD 2>/dev/null) || exit 0 ;;
  esac
  nexus_spool=$nexus_dir/spool
  [ -d "$nexus_spool" ] || mkdir -p "$nexus_spool" 2>/dev/null
  # No time field (`-`): forking `date` would cost the commit a millisecond; the worker takes
  # the queue file's modification time instead.
  if [ -n "${2:-}" ]; then cp "$2" "$nexus_spool/rewrite-$nexus_sha.pairs" 2>/dev/null || exit 0; fi
  printf '%s\t%s\t%s\t%s\n' - "$1" "$nexus_sha" "$PWD" >>"$nexus_spool/queue" 2>/dev/null || exit 0
  # A worker always starts: one that finds the spool's OS lock held exits at once.
  if [ ! -x "$nexus_bin" ]; then
    if command -v nexus >/dev/null 2>&1; then
      nexus_bin=nexus
    else
      printf '%s %s exit=127 FAILED nexus not found: %s is missing and there is no nexus on PATH; commit %s stays queued in %s (re-run nexus install-codex-commit-checkpoint-hook)\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$nexus_bin" "$nexus_sha" "$nexus_spool" >>"$nexus_dir/codex-commit-checkpoint.log" 2>/dev/null
      exit 0
    fi
  fi
  set -- drain-codex-commit-spool --background
  [ -n "$nexus_source_root" ] && set -- "$@" --source-root "$nexus_source_root"
  [ -n "$nexus_objects_root" ] && set -- "$@" --objects-root "$nexus_objects_root"
  [ -n "$nexus_event_store_root" ] && set -- "$@" --event-store-root "$nexus_event_store_root"
  unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX GIT_COMMON_DIR GIT_OBJECT_DIRECTORY \
    GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_NAMESPACE GIT_QUARANTINE_PATH
  "$nexus_bin" "$@" --repo-root "$PWD" </dev/null >/dev/null 2>&1 &
  exit 0
)
@BODY@
unset nexus_bin nexus_dir nexus_source_root nexus_objects_root nexus_event_store_root nexus_stdin
unset -f nexus_hook_run nexus_hook_spool
fi
# <<< NEXUS CODEX COMMIT CHECKPOINT <<<
