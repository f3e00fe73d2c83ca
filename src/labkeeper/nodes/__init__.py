"""The machines of one instance: API nodes and worker nodes sharing one store."""
