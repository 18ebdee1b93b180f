/* The "module" of the selftest: split BTF on btf_data.o (pahole -J --btf_base). Its
 * types dedup against the base, so its protos reference base PTRs and structs. */
#include "types.h"

/* same name as a base FUNC (another prototype, so it is not deduped away): the
 * module's own FUNC is the kfunc (own lookup) */
KFUNC long func(long x) { return x * 2; }
KFUNC struct root_struct *mod_kfunc_arena(struct root_struct *a, struct root_struct *b__arena)
{ return b__arena ? b__arena : a; }
KFUNC int mod_kfunc_impl(struct root_struct *root, struct bpf_prog_aux *aux)
{ return root->m_5 + aux->id; }
KFUNC int mod_kfunc_fast(int x) { return x + 1; }
