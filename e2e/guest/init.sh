#!/bin/busybox sh
# /init of the btfids guest check (e2e/guest.py builds the initramfs around it).
# Prints "BTFIDS-E2E key=value ..." lines on the serial console; the host judges them.
# /e2e/config (written by the host) sets MODULES, EXTMOD, EXTMOD_NEG, EXTMOD_NAME.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 > /proc/sys/kernel/printk  # keep kernel messages off our lines; dmesg at the end
. /e2e/config
say() { echo "BTFIDS-E2E $*"; }
has_btf() { [ -e "/sys/kernel/btf/$1" ] && echo 1 || echo 0; }

# kfunc calls need the JIT and kallsyms (the verifier looks kfunc addresses up by name)
[ -w /proc/sys/net/core/bpf_jit_enable ] && echo 1 > /proc/sys/net/core/bpf_jit_enable
say phase=boot kernel=$(uname -r) kallsyms=$([ -e /proc/kallsyms ] && echo 1 || echo 0)

say phase=vmlinux_btf
if [ ! -e /sys/kernel/btf/vmlinux ]; then
	say vmlinux_btf_present=0 vmlinux_btf_equal=0
elif cmp -s /sys/kernel/btf/vmlinux /e2e/vmlinux.btf; then
	say vmlinux_btf_present=1 vmlinux_btf_equal=1
else
	say vmlinux_btf_present=1 vmlinux_btf_equal=0 \
		guest_bytes=$(wc -c < /sys/kernel/btf/vmlinux) \
		guest_sha256=$(sha256sum < /sys/kernel/btf/vmlinux | cut -d' ' -f1)
fi

say phase=modules
for m in $MODULES; do
	if modprobe "$m" 2>&1 | sed 's/^/BTFIDS-E2E-OUT /'; [ -d "/sys/module/$m" ]; then
		say module=$m loaded=1 btf=$(has_btf "$m")
	else
		say module=$m loaded=0 btf=0
	fi
done

say phase=extmod
if insmod "$EXTMOD" 2>&1 | sed 's/^/BTFIDS-E2E-OUT /'; [ -d "/sys/module/$EXTMOD_NAME" ]; then
	say extmod_loaded=1 extmod_btf=$(has_btf "$EXTMOD_NAME")
else
	say extmod_loaded=0 extmod_btf=0
fi

say phase=calls
/e2e/load /e2e/kfunc_vmlinux.bpf.o
/e2e/load /e2e/kfunc_module.bpf.o

say phase=unload
# The programs' references on the module go away after an RCU grace period: retry.
i=0
while [ -d "/sys/module/$EXTMOD_NAME" ] && [ $i -lt 50 ]; do
	rmmod "$EXTMOD_NAME" 2>/dev/null || sleep 0.2
	i=$((i + 1))
done
[ -d "/sys/module/$EXTMOD_NAME" ] && say extmod_unloaded=0 || say extmod_unloaded=1

say phase=negative
if insmod "$EXTMOD_NEG" 2>&1 | sed 's/^/BTFIDS-E2E-OUT /'; [ -d "/sys/module/$EXTMOD_NAME" ]; then
	say negmod_loaded=1 negmod_btf=$(has_btf "$EXTMOD_NAME")
	/e2e/load /e2e/kfunc_module.bpf.o
else
	say negmod_loaded=0 negmod_btf=0
fi

say phase=dmesg
dmesg | sed 's/^/BTFIDS-E2E-DMESG /'
say phase=done
sync
reboot -f
