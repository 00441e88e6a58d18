// Command vmbench compares, in one run, the back ends a QEMU guest can use
// for an encrypted or plain disk image in /dev/shm:
//
//	qsd-raw   qemu-storage-daemon, raw file (cache.direct=on, aio=native)
//	qsd-luks  qemu-storage-daemon, LUKS image (aes-xts-plain64, 512-bit key)
//	raw       vhost-user-blk-ccm --format raw
//	ccm       vhost-user-blk-ccm, CCM image (AES-256, M 16, N 8)
//
// For each back end it boots the small VM of the integration tests
// (tests/vmtest) with the back end's vhost-user-blk disk and runs the guest's
// bench action: O_DIRECT 4 KiB random reads and writes at queue depth 32 and
// 1 MiB sequential reads and writes at depth 1, a few seconds each, with the
// guest's write cache in write-back mode. The guest reports IOPS and MB/s;
// the host reads the back end's CPU time (utime+stime of /proc/PID/stat, all
// threads) when the guest's console shows a workload's CCMBLK-START line and
// again at its CCMBLK-BENCH result line. The back end is idle outside the
// workloads, so the few milliseconds by which the host's window differs
// from the guest's own timing barely move the figure (the progress lines
// show both); the clock's resolution is 10 ms.
//
// The back ends take turns for a few rounds, and the report shows the
// median of each figure: a table of IOPS, MB/s and CPU microseconds per I/O
// for every back end and workload, a table of where the back end's time
// goes (user and system time, system calls and context switches per I/O),
// and the ratios the project's targets are stated in, each marked met or
// not met. It exits 0 when the benchmark ran (targets are reported, not
// asserted), 1 when it could not run and 2 on bad flags.
//
// Run it with `make bench-vm` (which first runs tests/setup.sh and builds
// the commands) or `go run ./tests/cmd/vmbench`. Flags:
//
//	-seconds 3        seconds per workload
//	-rounds 3         rounds over all back ends (about a minute each)
//	-size 256M        guest-visible disk size of every image
//	-queues 1         virtqueues of the disk, the same for every back end
//	-cases qsd-raw,qsd-luks,raw,ccm   back ends to measure, in this order
//	-dir /dev/shm     where the images are made
//	-keep             keep the images, keys and logs
//	-v                stream the back ends' and guests' output to stderr
package main
