"""New machines from an installer ISO, a cloud image, an existing disk or the network: the
operating systems libosinfo knows (``osinfo``), what a user asks for (``spec``), the
definition made from it (``domain``), a cloud image's NoCloud seed (``seed_iso``), the steps
with their opposites (``operations``) and the plan run as one flow (``service``)."""
