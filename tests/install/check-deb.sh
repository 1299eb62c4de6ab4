#!/usr/bin/env bash
# check-deb.sh BUILD_DIR: builds the Debian package with cpack, checks its contents and
# maintainer scripts, installs it with dpkg on this machine, downloads a file from a real
# nginx with the installed /usr/bin/opendo (which starts the installed /usr/bin/opendod),
# reads the installed man pages, then purges the package and checks that nothing is left.
# Needs root (dpkg -i); CI runs as root. Fails, never skips, when it cannot do its job.
set -euo pipefail
build_dir=$(cd "$1" && pwd)

fail() { echo "check-deb: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || fail "must run as root to install the package with dpkg (CI runs as root)"
if dpkg-query -W -f='${Status}' opendo 2>/dev/null | grep -q "install ok installed"; then
  fail "a package named opendo is already installed on this machine; remove it first"
fi

work=$(mktemp -d /tmp/opendo-deb-XXXXXX)
nginx_pid=
cleanup() {
  [[ -n $nginx_pid ]] && kill "$nginx_pid" 2>/dev/null || true
  if [[ -n ${daemon_pid:-} ]]; then kill "$daemon_pid" 2>/dev/null || true; fi
  dpkg --purge opendo >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Build the package.
(cd "$work" && cpack -G DEB --config "$build_dir/CPackConfig.cmake" -B "$work/pkg" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(find "$work/pkg" -maxdepth 1 -name 'opendo_*.deb' | head -n 1)
[[ -n $deb ]] || fail "cpack made no opendo_*.deb (see $work/pkg)"
echo "check-deb: built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# 2. What it holds and declares.
dpkg-deb --contents "$deb" >"$work/contents"
for f in ./usr/bin/opendod ./usr/bin/opendo ./usr/include/opendo/opendo.hpp \
         ./usr/include/opendo/compat/bits.h ./usr/share/opendo/org.opendo.Transfer.varlink \
         ./usr/lib/systemd/system/opendod.service ./usr/lib/systemd/system/opendod.socket \
         ./usr/lib/systemd/user/opendod.service ./usr/share/man/man8/opendod.8.gz \
         ./usr/share/man/man1/opendo.1.gz ./usr/share/doc/opendo/README.md \
         ./usr/share/doc/opendo/configuration.md; do
  grep -q " $f\$" "$work/contents" || fail "the package lacks $f"
done
grep -Eq ' ./usr/lib/(x86_64-linux-gnu/)?libopendo\.so\.0' "$work/contents" || fail "the package lacks libopendo.so.0"
# The modules opendod loads on first use (libcurl's and libtorrent's): the download below needs
# the first, so a package without them fails there too, but this names what is missing.
for module in opendo-http.so opendo-peer.so; do
  grep -Eq " ./usr/lib/(x86_64-linux-gnu/)?opendo/$module\$" "$work/contents" ||
    fail "the package lacks the module $module"
done
depends=$(dpkg-deb --field "$deb" Depends)
for lib in libcurl4 libsqlite3-0; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib (shlibdeps): $depends"
done
# Listed into a file first: with pipefail, `... | grep -q` fails when grep quits at its match
# before the writer is done and the writer dies of SIGPIPE (a red CI at 02bc047).
dpkg-deb --ctrl-tarfile "$deb" | tar -t >"$work/control-files"
grep -q postinst "$work/control-files" || fail "no postinst in the package"

# 3. Install it. No systemd runs in CI, so the postinst only records the socket unit as enabled.
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
dpkg-query -W -f='${Status}' opendo | grep -q "install ok installed" || fail "not installed after dpkg -i"
[[ -x /usr/bin/opendod && -x /usr/bin/opendo ]] || fail "the binaries are not installed"
[[ -L /etc/systemd/system/sockets.target.wants/opendod.socket ]] ||
  fail "the postinst did not enable opendod.socket"
/usr/bin/opendod --version >/dev/null || fail "the installed opendod does not run"
grep -q '^\.SH COMMANDS' <(zcat /usr/share/man/man1/opendo.1.gz) || fail "opendo(1) has no COMMANDS"
grep -qF -- '\-\-system' <(zcat /usr/share/man/man8/opendod.8.gz) || fail "opendod(8) lacks --system"

# 4. Use it: a real nginx serves a file, the installed opendo downloads it through an opendod
# it starts itself (user mode, its own runtime and state directories).
mkdir -p "$work/www" "$work/nginx/logs" "$work/nginx/tmp" "$work/run" "$work/state" "$work/out"
head -c 3000000 /dev/urandom >"$work/www/payload.bin"
# nginx's workers run as nobody: they must reach the docroot through the private temp dir.
chmod 0755 "$work" "$work/www" && chmod 0644 "$work/www/payload.bin"
want=$(sha256sum "$work/www/payload.bin" | cut -d' ' -f1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx/nginx.conf" <<NGINX
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 64; }
http {
  access_log $work/nginx/logs/access.log;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  server { listen 127.0.0.1:$port; root $work/www; }
}
NGINX
/usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
export XDG_RUNTIME_DIR=$work/run XDG_STATE_HOME=$work/state
(cd "$work/out" && timeout 60 /usr/bin/opendo get "http://127.0.0.1:$port/payload.bin" >"$work/get.log" 2>&1) ||
  { cat "$work/get.log"; fail "opendo get with the installed binaries failed"; }
got=$(sha256sum "$work/out/payload.bin" | cut -d' ' -f1)
[[ $got == "$want" ]] || fail "the downloaded file's SHA-256 is $got, not $want"
# The daemon records its pid in the lock file beside its socket.
daemon_pid=$(head -n 1 "$work/run/opendo/opendod.sock.lock")
[[ $(readlink "/proc/$daemon_pid/exe") == /usr/bin/opendod ]] ||
  fail "opendo get did not start the installed /usr/bin/opendod (pid $daemon_pid)"
kill -TERM "$daemon_pid"

# 5. Purge: nothing of the package stays.
dpkg --purge opendo >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge failed"; }
for f in /usr/bin/opendod /usr/bin/opendo /usr/share/man/man1/opendo.1.gz \
         /usr/lib/systemd/system/opendod.socket /etc/systemd/system/sockets.target.wants/opendod.socket; do
  [[ ! -e $f && ! -L $f ]] || fail "$f is still there after dpkg --purge"
done
echo "check-deb: $(basename "$deb") builds, installs, downloads (SHA-256 ok), has its man pages, and purges cleanly"
