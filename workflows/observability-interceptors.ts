/**
 * Workflow lifecycle logs (run started, completed, continued as new, cancelled, failed), bundled
 * into the workflow sandbox through the worker's `interceptors.workflowModules`
 * (workers/observability.ts). `log` reaches the worker's logger with the workflow id, run id, type
 * and task queue attached, and is silent while a history replays, so each line appears once.
 *
 * Durations are workflow time since this run started: a medication schedule's run lasts until it
 * continues as new, which is days or weeks.
 */
import {
  ContinueAsNew,
  isCancellation,
  log,
  workflowInfo,
  type Next,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';

class WorkflowLifecycleLog implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const info = workflowInfo();
    log.info('workflow run started', {
      attempt: info.attempt,
      ...(info.continuedFromExecutionRunId ? { continuedFromRunId: info.continuedFromExecutionRunId } : {}),
    });
    const durationMs = () => Date.now() - info.runStartTime.getTime();
    try {
      const result = await next(input);
      log.info('workflow run completed', { durationMs: durationMs() });
      return result;
    } catch (err) {
      if (err instanceof ContinueAsNew) log.info('workflow run continued as new', { durationMs: durationMs() });
      else if (isCancellation(err)) log.info('workflow run cancelled', { durationMs: durationMs() });
      else log.error('workflow run failed', { durationMs: durationMs(), error: err });
      throw err;
    }
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new WorkflowLifecycleLog()] });
