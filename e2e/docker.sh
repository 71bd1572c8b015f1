# docker_up: a Docker engine to test with: the running one, else Debian's
# docker.io started here with vfs storage and no networking of its own.
DOCKER=/usr/bin/docker
DOCKERD_LOG=/var/tmp/debstrap-dockerd.log
docker() { "$DOCKER" "$@"; }
docker_up() {
  local dockerd i
  dockerd=$(PATH=$PATH:/usr/sbin:/sbin command -v dockerd) ||
    { apt-get install -y -qq docker.io >/dev/null 2>&1 && dockerd=$(PATH=$PATH:/usr/sbin:/sbin command -v dockerd); } ||
    { echo "    dockerd not found and docker.io could not be installed"; return 1; }
  [ -x "$DOCKER" ] || DOCKER=$(command -v docker) || return 1
  if docker info >/dev/null 2>&1; then return 0; fi
  # A dockerd killed with its session leaves its pid file and socket; a
  # fresh one refuses to start over a live pid only.
  ("$dockerd" --storage-driver=vfs --iptables=false --bridge=none > "$DOCKERD_LOG" 2>&1 &)
  for i in $(seq 90); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  echo "    dockerd ($dockerd) did not answer in 90 s; the end of $DOCKERD_LOG:"
  tail -15 "$DOCKERD_LOG" | sed 's/^/      /'
  return 1
}
