# A simulated virtual machine for the tests (tests/vm/vm.sh): Debian 12 as debian:bookworm-slim
# ships it, plus sshd so that it is reached as a real VM is. Nothing else: whatever waitline needs
# (the engine, node, GlusterFS) is installed by what is under test (make up, the Ansible playbook).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /run/sshd /root/.ssh \
 && chmod 700 /root/.ssh \
 && sed -i 's/^#\?PermitRootLogin.*/PermitRootLogin prohibit-password/' /etc/ssh/sshd_config \
 && echo force-unsafe-io >/etc/dpkg/dpkg.cfg.d/unsafe-io
# force-unsafe-io: dpkg skips its fsync per file. Several VMs installing hundreds of packages at
# once on one shared disk otherwise spend minutes in fsync; a power cut of a simulated VM during
# an install is not something the tests do.
EXPOSE 22
# sshd in the foreground is the machine's "init" (docker run --init reaps the orphans that
# dockerd and its daemons leave behind).
CMD ["/usr/sbin/sshd", "-D", "-e"]
