package sending

import (
	"context"
	"time"

	"mailer/app/mailing"
)

// SendTransactional sends message m now to one address (a welcome mail, a receipt): the
// delivery is recorded under the message's transactional run and handed to the workers like
// any run's, so it is claimed, retried and written to the ledger the same way. A suppressed
// address is recorded and not sent.
func (e *Engine) SendTransactional(ctx context.Context, m *mailing.Message, email, name string) (*mailing.DeliveryInfo, error) {
	run, d, err := e.Store.TransactionalDelivery(ctx, m, email, name)
	if err != nil {
		return nil, err
	}
	e.changed(ctx, m.OwnerID)
	if d.State == mailing.DeliveryPending && e.Enqueue != nil {
		if err := e.Enqueue.EnqueueRun(ctx, run.ID, 1, time.Time{}); err != nil {
			// Recorded: recovery enqueues the run again from the database.
			e.Log.Error("enqueue transactional run", "run_id", run.ID, "err", err)
		}
	}
	e.Log.Info("transactional send", "run_id", run.ID, "delivery_id", d.ID, "message_id", m.ID, "state", d.State)
	return d, nil
}
