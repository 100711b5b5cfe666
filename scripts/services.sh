#!/usr/bin/env bash
# Make sure the binaries the integration tests start are installed.
# The tests start their own throwaway servers on free loopback ports (nothing
# is started here, and no system service is enabled): redis-server for the
# Redis sink and source tests, mariadbd (mariadb-server, with the mariadb
# client) and PostgreSQL (postgresql: initdb, postgres, psql) for the SQL sink
# tests. PostgreSQL refuses to run as root: the tests run it as the
# `postgres` user its package creates, or as `aioscout-pg`, created here when
# there is no such user. Without root or apt-get this only reports what is
# missing; the tests that need it then skip with that reason (and fail in CI).
set -euo pipefail

pg_bin() {
  command -v initdb >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# A font with CJK glyphs, so screenshots of Chinese, Japanese and Korean titles show text, not boxes.
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
{ command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } || missing+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
pg_bin || missing+=(postgresql)

# A user for PostgreSQL when the tests run as root and the package made none.
ensure_pg_user() {
  [ "$(id -u)" = 0 ] || return 0
  id postgres >/dev/null 2>&1 && return 0
  id aioscout-pg >/dev/null 2>&1 && return 0
  echo "services.sh: creating system user aioscout-pg (PostgreSQL will not run as root)"
  useradd --system --no-create-home --shell /usr/sbin/nologin aioscout-pg
}
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)

# The SSH tests start their own sshd servers (as root, on loopback) and log in to them
# as this unprivileged user, by key or with a random password kept readable by root only.
ssh_user=aioscout-test
ssh_password_file=/var/lib/aioscout-test/password
if [ "$(id -u)" = 0 ]; then
  id "$ssh_user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$ssh_user"
  if [ ! -s "$ssh_password_file" ]; then
    install -d -m 700 "$(dirname "$ssh_password_file")"
    (umask 077 && head -c 18 /dev/urandom | base64 >"$ssh_password_file")
    echo "$ssh_user:$(cat "$ssh_password_file")" | chpasswd
  fi
else
  echo "services.sh: not root: cannot create the SSH test user $ssh_user; the SSH tests will skip" >&2
fi

if [ ${#missing[@]} -eq 0 ]; then
  ensure_pg_user
  echo "services.sh: all test services present"
  exit 0
fi

# The packages may start system-wide instances; the tests never use them.
stop_system_services() {
  for svc in redis-server mariadb postgresql; do
    if command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
    if [ -x "/etc/init.d/$svc" ]; then
      "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
  done
}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "services.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  stop_system_services
  ensure_pg_user
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now ssh ssh.socket >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    service ssh stop >/dev/null 2>&1 || true
  fi
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
  echo "services.sh: installing ${missing[*]} with sudo"
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "services.sh: missing ${missing[*]} and cannot install (not root, no apt-get); tests needing it will skip" >&2
fi
