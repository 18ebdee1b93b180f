/* btfids explain's "module": split BTF on the explain "vmlinux". */
#include "btf_ids.h"

struct present { int a; };

__attribute__((noinline, used)) int mod_func(struct present *p) { return p->a + 1; }
asm(".text\n.globl mod_asm\n.type mod_asm, @function\nmod_asm:\n\tret\n"
    ".size mod_asm, . - mod_asm\n");

BTF_ID_LIST(mod_list)
BTF_ID(func, mod_func)          /* resolves (own) */
BTF_ID(func, present_func)      /* resolves (base) */
BTF_ID(func, mod_missing)       /* not-in-symtab, not-in-base */
BTF_ID(func, mod_asm)           /* not-in-btf, not-in-base */
BTF_ID(func, not_a_func)        /* wrong-kind, in-base */
