/** Query and signal of the circle notification workflows, apart from their code so the API can import them. */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export type Channel = 'push' | 'email' | 'in_app';

export interface RecipientProgress {
  memberId: string;
  status: 'pending' | 'deferred' | 'delivered' | 'failed';
  /** While deferred: when the member's quiet hours end (ISO). */
  deferredUntil: string | null;
  /** Channels the message reached the member on. */
  deliveredVia: Channel[];
  /** Email was sent because push failed for good (or the member had no working device). */
  fellBack: boolean;
  error: string | null;
}

export interface CircleNotificationProgress {
  notificationId: string;
  state: 'sending' | 'completed';
  total: number;
  delivered: number;
  deferred: number;
  failed: number;
  pending: number;
  recipients: RecipientProgress[];
}

export const circleNotificationProgressQuery = defineQuery<CircleNotificationProgress>('progress');

/** From a batch to its parent: these members' outcomes changed. */
export const recipientProgressSignal = defineSignal<[RecipientProgress[]]>('recipientProgress');
