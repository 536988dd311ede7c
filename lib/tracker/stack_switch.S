/* stack_switch.S - memprof_call_on_stack(arg, fn, stack_top): calls fn(arg)
 * on another stack. The frame is a standard %rbp frame with CFI, so an
 * unwinder started on the new stack walks on into the caller's.
 * Also memprof_malloc_slow(size), malloc's slow path (hooks.c): saves the
 * program's %rip, %rsp and %rbp as they are at malloc's return address (a
 * struct unwind_regs, on its own frame) and calls
 * memprof_malloc_slow_from(size, &regs), so the unwinder starts there. */
#if defined(__x86_64__)
	.text
	.globl memprof_malloc_slow
	.hidden memprof_malloc_slow
	.type memprof_malloc_slow, @function
memprof_malloc_slow:
	.cfi_startproc
	subq $24, %rsp			/* 16-byte aligned again for the call */
	.cfi_def_cfa_offset 32
	movq 24(%rsp), %rax		/* the return address into the program */
	movq %rax, 0(%rsp)
	leaq 32(%rsp), %rax		/* %rsp once malloc has returned */
	movq %rax, 8(%rsp)
	movq %rbp, 16(%rsp)		/* malloc's fast path leaves %rbp alone */
	movq %rsp, %rsi
	call memprof_malloc_slow_from
	addq $24, %rsp
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size memprof_malloc_slow, .-memprof_malloc_slow

	.text
	.globl memprof_call_on_stack
	.hidden memprof_call_on_stack
	.type memprof_call_on_stack, @function
memprof_call_on_stack:
	.cfi_startproc
	pushq %rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	movq %rsp, %rbp
	.cfi_def_cfa_register %rbp
	movq %rdx, %rsp
	andq $-16, %rsp
	call *%rsi
	movq %rbp, %rsp
	popq %rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size memprof_call_on_stack, .-memprof_call_on_stack

#endif
	.section .note.GNU-stack,"",@progbits
