"""What the service serves to browsers: GraphiQL from the package's own files."""
