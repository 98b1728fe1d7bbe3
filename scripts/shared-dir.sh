# Sourced by set-up scripts: finds a file of the project's shared/ tree (built tools and their
# sources kept beside the checkouts): XFRMD_SHARED_DIR, else the shared/ beside this checkout
# (as in CI), else the one beside a local checkout this was cloned from.
#   shared_file <path below shared/>    prints the full path, or nothing (status 1)
shared_file() {
  local candidates=(${XFRMD_SHARED_DIR:+"$XFRMD_SHARED_DIR"} ../shared) origin d
  origin=$(git config --get remote.origin.url 2>/dev/null || true)
  [[ $origin == /* ]] && candidates+=("$origin/../shared")
  for d in "${candidates[@]}"; do
    [[ -f $d/$1 ]] && { echo "$d/$1"; return 0; }
  done
  return 1
}
