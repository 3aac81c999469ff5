"""Knowledge base ranking: recommended answers for what customers write (see ``ranker``)."""
