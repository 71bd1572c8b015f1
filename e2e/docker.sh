# docker_up: a Docker engine to test with: the running one, else Debian's
# docker.io started here with vfs storage and no networking of its own.
DOCKER=/usr/bin/docker
docker() { "$DOCKER" "$@"; }
docker_up() {
  [ -x /usr/bin/dockerd ] || apt-get install -y -qq docker.io >/dev/null 2>&1 || return 1
  [ -x "$DOCKER" ] || DOCKER=$(command -v docker) || return 1
  if docker info >/dev/null 2>&1; then return 0; fi
  (/usr/bin/dockerd --storage-driver=vfs --iptables=false --bridge=none > /var/tmp/debstrap-dockerd.log 2>&1 &)
  local i
  for i in $(seq 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}
