# Sourced by bench/run and bench/analyze: makes sure `libdeflate-gunzip`
# (Debian's libdeflate-tools) is on PATH, installing it when missing. Its
# time to decompress the profiles is the floor the benchmarks compare with:
# the fastest inflate there is, single-threaded.
need_libdeflate() {
    command -v libdeflate-gunzip >/dev/null && return
    echo "$0: installing libdeflate-tools (libdeflate-gunzip, the floor)" >&2
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    { $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libdeflate-tools >/dev/null; } ||
        { echo "$0: cannot install libdeflate-tools; install it (apt-get install libdeflate-tools) and run again" >&2; exit 1; }
}
