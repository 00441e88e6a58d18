#!/usr/bin/env bash
# Installs what the VM tests, the demo and the benchmark need on a Debian 12
# machine, and unpacks Debian's cloud kernel plus its virtio modules into a
# cache directory the test harness reads.
#
#   tests/setup.sh            # idempotent; prints what it did
#
# Environment:
#   CCMBLK_VM_DIR    cache directory (default /var/tmp/ccmblk-vm)
#   CCMBLK_KERNEL    kernel package to use instead of the one
#                    linux-image-cloud-amd64 depends on, e.g.
#                    linux-image-6.1.0-56-cloud-amd64
#
# Result: $CCMBLK_VM_DIR/current -> linux-<release>/ holding vmlinuz, config
# and modules/ (the kernel's drivers/virtio and drivers/block trees and the
# ACPI power button and evdev drivers, .ko files decompressed), and
# $CCMBLK_VM_DIR/qemu-python/qemu/qmp: QEMU's own Python QMP client
# (qemu.qmp, with qmp-shell), as QEMU 7.2's source tree ships it.
set -euo pipefail

dir="${CCMBLK_VM_DIR:-/var/tmp/ccmblk-vm}"
say() { printf 'setup: %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}

# Debian packages: QEMU (system emulator with qboot firmware, qemu-img,
# qemu-storage-daemon), xz for compressed kernel modules, node for the
# OpenSSL-based image checker, socat for the control socket tests, systemd
# (systemd-analyze, systemd-socket-activate), git and make for the operator
# tests, libvirt 9.0 for the libvirt VM test.
pkgs=(qemu-system-x86 qemu-system-common qemu-system-data qemu-utils xz-utils nodejs socat
	systemd git make libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu)
need_pkgs=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		need_pkgs+=("$p")
	fi
done
updated=0
if [ "${#need_pkgs[@]}" -gt 0 ]; then
	say "installing ${need_pkgs[*]}"
	as_root apt-get update -qq
	updated=1
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
else
	say "packages present: ${pkgs[*]}"
fi

# Which kernel: the package the cloud meta-package depends on.
kernel_pkg() {
	if [ -n "${CCMBLK_KERNEL:-}" ]; then
		echo "$CCMBLK_KERNEL"
		return
	fi
	apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
cached() {
	[ -s "$dir/linux-$1/vmlinuz" ] && [ -s "$dir/linux-$1/modules/drivers/block/virtio_blk.ko" ] &&
		[ -s "$dir/linux-$1/modules/drivers/acpi/button.ko" ] && [ -s "$dir/linux-$1/modules/drivers/input/evdev.ko" ]
}

pkg="$(kernel_pkg)"
if [ -n "$pkg" ] && cached "${pkg#linux-image-}"; then
	release="${pkg#linux-image-}"
	say "kernel $release already unpacked in $dir/linux-$release"
else
	if [ "$updated" -eq 0 ]; then
		as_root apt-get update -qq
		pkg="$(kernel_pkg)"
	fi
	if [ -z "$pkg" ]; then
		echo "setup: cannot find the kernel package behind linux-image-cloud-amd64" >&2
		exit 1
	fi
	release="${pkg#linux-image-}"
	dest="$dir/linux-$release"
	say "fetching $pkg"
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
	chmod 0755 "$work"
	(cd "$work" && apt-get download "$pkg" 2>&1 | grep -v 'unsandboxed' || true)
	deb="$(ls "$work"/*.deb 2>/dev/null || true)"
	if [ -z "$deb" ]; then
		echo "setup: apt-get download $pkg failed" >&2
		exit 1
	fi
	mkdir -p "$work/x"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/x" \
		--wildcards "./boot/vmlinuz-*" "./boot/config-*" \
		"./lib/modules/*/kernel/drivers/virtio/*" \
		"./lib/modules/*/kernel/drivers/block/virtio_blk.ko*" \
		"./lib/modules/*/kernel/drivers/acpi/button.ko*" \
		"./lib/modules/*/kernel/drivers/input/evdev.ko*"
	rm -rf "$dest.tmp"
	mkdir -p "$dest.tmp/modules"
	cp "$work"/x/boot/vmlinuz-* "$dest.tmp/vmlinuz"
	cp "$work"/x/boot/config-* "$dest.tmp/config"
	cp -r "$work"/x/lib/modules/*/kernel/drivers "$dest.tmp/modules/"
	find "$dest.tmp/modules" -name '*.ko.xz' -exec xz -d {} +
	echo "$pkg" >"$dest.tmp/package"
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
	say "unpacked $(find "$dest/modules" -name '*.ko' | wc -l) modules and vmlinuz into $dest"
fi
ln -sfn "linux-$release" "$dir/current"
say "kernel: $dir/current -> linux-$release"
say "qemu: $(qemu-system-x86_64 --version | head -1)"

# QEMU's Python QMP client, qemu.qmp: PyPI is out of reach here, so it comes
# from the python/ directory of Debian's QEMU source package (the same
# library, QEMU 7.2's copy), fetched by apt through a private deb-src list
# (signatures and checksums checked as for binary packages).
qmpdir="$dir/qemu-python"
if [ -s "$qmpdir/qemu/qmp/qmp_client.py" ]; then
	say "qemu.qmp already unpacked in $qmpdir"
else
	src="$(mktemp -d)"
	trap 'rm -rf "$src" ${work:+"$work"}' EXIT
	chmod 0755 "$src"
	mkdir -p "$src/lists/partial" "$src/sources"
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$src/sources/debian.sources"
	else
		grep -h '^deb .*debian' /etc/apt/sources.list | sed 's/^deb /deb-src /' >"$src/sources/debian.list"
	fi
	aptsrc=(-o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts="$src/sources" -o Dir::State::Lists="$src/lists")
	as_root apt-get "${aptsrc[@]}" update -qq
	say "fetching Debian's QEMU source package for qemu.qmp"
	(cd "$src" && as_root apt-get "${aptsrc[@]}" source --download-only -qq qemu 2>&1 | grep -v 'unsandboxed' || true)
	orig="$(ls "$src"/qemu_*.orig.tar.* 2>/dev/null || true)"
	if [ -z "$orig" ]; then
		echo "setup: apt-get source qemu failed" >&2
		exit 1
	fi
	rm -rf "$qmpdir.tmp"
	mkdir -p "$qmpdir.tmp/qemu"
	tar -xf "$orig" -C "$qmpdir.tmp/qemu" --strip-components=3 --wildcards '*/python/qemu/qmp'
	rm -rf "$qmpdir"
	mv "$qmpdir.tmp" "$qmpdir"
	say "unpacked qemu.qmp from $(basename "$orig") into $qmpdir"
fi
say "qemu.qmp: $(PYTHONPATH="$qmpdir" python3 -c 'import qemu.qmp; print(qemu.qmp.__file__)')"
