// SPDX-License-Identifier: GPL-2.0
/* btfids_e2e: the smallest module with a kfunc set, for the btfids guest check.
 *
 * Registers bpf_btfids_e2e_answer(x) = x * 3 + 7 for BPF_PROG_TYPE_SYSCALL. The kfunc
 * is callable only if the resolve_btfids tool filled the module's .BTF_ids set with the
 * kfunc's BTF ID; built with a no-op tool the set holds zero IDs and the verifier
 * refuses the call (the negative control).
 */
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/init.h>
#include <linux/module.h>

__bpf_kfunc_start_defs();

__bpf_kfunc u64 bpf_btfids_e2e_answer(u64 x)
{
	return x * 3 + 7;
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(btfids_e2e_kfunc_ids)
BTF_ID_FLAGS(func, bpf_btfids_e2e_answer)
BTF_KFUNCS_END(btfids_e2e_kfunc_ids)

static const struct btf_kfunc_id_set btfids_e2e_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &btfids_e2e_kfunc_ids,
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
MODULE_DESCRIPTION("btfids end-to-end check: one kfunc for BPF_PROG_TYPE_SYSCALL");
MODULE_LICENSE("GPL");
