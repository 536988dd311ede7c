/* stack_switch.S - memprof_call_on_stack(arg, fn, stack_top): calls fn(arg)
 * on another stack. The frame is a standard %rbp frame with CFI, so an
 * unwinder started on the new stack walks on into the caller's. */
#if defined(__x86_64__)
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
