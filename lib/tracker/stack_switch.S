/* stack_switch.S - calls on the tracker's own stack. Each frame is a
 * standard %rbp frame with CFI, so an unwinder started on the new stack
 * walks on into the caller's.
 *   memprof_call_on_stack(arg, fn, stack_top): fn(arg)
 *   memprof_backtrace_on_stack(buf, n, stack_top): unw_backtrace(buf, n),
 *     called directly, so the trace holds one frame of ours fewer */
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

	.globl memprof_backtrace_on_stack
	.hidden memprof_backtrace_on_stack
	.type memprof_backtrace_on_stack, @function
memprof_backtrace_on_stack:
	.cfi_startproc
	pushq %rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	movq %rsp, %rbp
	.cfi_def_cfa_register %rbp
	movq %rdx, %rsp
	andq $-16, %rsp
	call unw_backtrace@PLT
	movq %rbp, %rsp
	popq %rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size memprof_backtrace_on_stack, .-memprof_backtrace_on_stack
#endif
	.section .note.GNU-stack,"",@progbits
