# Sourced by the scripts that add a Debian suite: debian_uri prints the first
# Debian archive URI the machine already uses (deb822 or one-line format), so
# that an added suite comes from the same mirror. The project's own sources
# files (viommu-*) are not read.
debian_uri() {
    {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        case $f in */viommu-*) continue ;; esac
        # deb822 stanzas are separated by blank lines; take the URI of the
        # first stanza whose Suites list bookworm itself.
        awk 'function flush() { if (!done && suite && uri != "") { print uri; done = 1; exit } }
             /^[ \t]*$/ { flush(); uri = ""; suite = 0; next }
             /^URIs:/ { uri = $2 }
             /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
             END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" && $0 ~ / bookworm( |$)/ && $0 !~ /security/ {
                 for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' "$f"
    done
    } | head -n 1
}
