// Command guest is the /init of the VM test guest. It mounts /proc, /sys and
// /dev, loads the virtio modules shipped in its initramfs, waits for the
// virtio-blk disk, runs the action named on the kernel command line against
// it, prints the result as marker lines on the serial console and powers the
// machine off.
//
// Kernel command line parameters (all optional except ccmblk.action):
//
//	ccmblk.action=readall|write|rocheck|sectorscan|demo|bench|zeroing|resize|gens
//	ccmblk.disk=vda          block device to use
//	ccmblk.timeout=120       seconds before the guest gives up
//	ccmblk.seed=1            seed of the write pattern (write)
//	ccmblk.seconds=3         seconds per case (bench), of writing (gens, default 10)
//	ccmblk.cases=randread4k,randwrite4k,seqread1m,seqwrite1m   (bench)
//	ccmblk.qd=32             parallel requests of the random cases (bench)
//	ccmblk.workers=32        parallel writers (gens)
//	ccmblk.grace=10          seconds a write may take after the end (gens)
//	ccmblk.cache=writeback|writethrough   set the disk's cache mode first
//	ccmblk.want=BYTES        the size the disk grows to while the guest runs (resize)
//	ccmblk.hold=SECONDS      print CCMBLK-READY stage=unbound and wait before
//	                         loading the modules, so the host acts while no
//	                         driver is bound
//
// Every run ends with exactly one result line, either
//
//	CCMBLK-OK action=<name> key=value ...
//	CCMBLK-FAIL action=<name> err="..."
//
// and the bench action prints a CCMBLK-START line as each case begins and a
// CCMBLK-BENCH line with its results as it ends. The resize action prints
// CCMBLK-READY once it watches the disk's size (unless hold is given). The
// gens action prints a CCMBLK-START line when its writers begin.
// Values containing spaces are Go-quoted. The program runs only as a Linux
// guest's init.
package main
