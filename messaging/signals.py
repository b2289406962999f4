"""What the outbox tells the apps above it, without importing them.

``mail_sent`` fires once a mail has gone out (its row already says so). Apps that keep their own
record of a mail, such as an alert's notification, connect a receiver in their ``AppConfig.ready``;
a receiver that fails is logged and never un-sends the mail (``send_robust``).
"""

from django.dispatch import Signal

# Sent with ``mail``: the OutboundEmail just sent (``sender`` is the OutboundEmail class).
mail_sent = Signal()
