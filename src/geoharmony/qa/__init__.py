"""Quality checks over a written dataset, shared by ``info``, ``validate`` and the report."""
