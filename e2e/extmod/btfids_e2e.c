// SPDX-License-Identifier: GPL-2.0
/*
 * btfids_e2e: an out-of-tree module with one kfunc, for `make e2e-newest`.
 *
 * Built with `make M=`, so kbuild runs resolve_btfids with --distill_base (the module
 * carries its own .BTF.base, relocated by the kernel at load time) and then
 * --patch_btfids, which fills the kfunc set below with the kfunc's BTF ID. The guest
 * calls bpf_btfids_e2e_answer() from a BPF_PROG_TYPE_SYSCALL program and checks the
 * result. Built without the --patch_btfids step, the set holds no IDs and the
 * verifier must refuse that call (the negative control).
 */
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/init.h>
#include <linux/module.h>

__bpf_kfunc_start_defs();

/* Easy to recognise from the guest: answer(5) == 22. */
__bpf_kfunc u64 bpf_btfids_e2e_answer(u64 x)
{
	return x * 3 + 7;
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(btfids_e2e_kfuncs)
BTF_ID_FLAGS(func, bpf_btfids_e2e_answer)
BTF_KFUNCS_END(btfids_e2e_kfuncs)

static const struct btf_kfunc_id_set btfids_e2e_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &btfids_e2e_kfuncs,
};

static int __init btfids_e2e_init(void)
{
	return register_btf_kfunc_id_set(BPF_PROG_TYPE_SYSCALL, &btfids_e2e_kfunc_set);
}

static void __exit btfids_e2e_exit(void)
{
}

module_init(btfids_e2e_init);
module_exit(btfids_e2e_exit);
MODULE_DESCRIPTION("btfids end-to-end check: one kfunc for BPF_PROG_TYPE_SYSCALL programs");
MODULE_LICENSE("GPL");
